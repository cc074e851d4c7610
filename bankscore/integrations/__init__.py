"""Integrations with other tools' data frames; each is an extra (`bankscore[dask]`). Import the module you need:
`bankscore.integrations.dask`."""
