"""What a code generator reads of a paper: section features, the LightGBM classifier of sections and the budgeted
selection. A library: no Dagster definitions here."""
