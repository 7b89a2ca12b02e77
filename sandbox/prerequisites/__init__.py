"""Code of the tutorial prerequisites that the sandbox deploys (the WarrantyCheck Lambda)."""
