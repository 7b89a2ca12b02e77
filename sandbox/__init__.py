"""Offline stand-in for an AWS account: moto control planes + loopback Cognito and AgentCore data planes."""
