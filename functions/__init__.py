"""The Lambda functions, one package per step (CodeUri functions/<step>/, handler app.lambda_handler)."""
