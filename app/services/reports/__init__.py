"""Reports: the dashboard's figures (dashboard) and the CSV/XLSX writer every export uses (exports)."""
