"""Which parts of a paper a code generator reads: page features, the LightGBM classifier and the budgeted selection.

A library: no Dagster definitions here."""
