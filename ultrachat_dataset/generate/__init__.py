"""Growing UltraChat the paper's way on any OpenAI-compatible endpoint: `generate`."""

from .run import GenerateOptions, generate

__all__ = ["GenerateOptions", "generate"]
