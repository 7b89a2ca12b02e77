"""Model selection for the CustomerSupport agent (Bedrock, or the offline stand-in for tests)."""
