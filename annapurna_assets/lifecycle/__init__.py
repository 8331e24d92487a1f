"""What ties the stages together: the stage table, stage outcomes and their events, the batch job, progress, and the
lifecycle sensors."""
