"""Model selection for the CustomerSupport agent (Bedrock; the sandbox's offline stand-in only when asked)."""
