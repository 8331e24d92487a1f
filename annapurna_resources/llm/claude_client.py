"""The Anthropic SDK client both Claude users talk through (the judge and the code generator): the Anthropic API with
a key, or Amazon Bedrock with the standard AWS credential chain."""

import os


def claude_client(
    *, bedrock: bool, api_key: str, base_url: str, aws_region: str, max_retries: int, timeout_s: float, error: type
):
    """`error` is raised (with what to set) when the Anthropic API is chosen and no key is configured."""
    import anthropic

    common = {"base_url": base_url or None, "max_retries": max_retries, "timeout": timeout_s}
    if bedrock:
        return anthropic.AnthropicBedrock(aws_region=aws_region, **common)
    api_key = api_key or os.environ.get("ANTHROPIC_API_KEY")
    if not api_key:
        raise error("no Anthropic API key: set ANTHROPIC_API_KEY")
    return anthropic.Anthropic(api_key=api_key, **common)
