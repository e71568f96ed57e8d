"""Requests to one OpenAI-compatible endpoint (vLLM, llama.cpp, Ollama, TGI, OpenAI).

Transport failures are the `openai` client's to retry: 408/409/429/5xx, timeouts and cut
connections, with exponential backoff that honours `Retry-After` (its `max_retries`). What it
cannot judge is the content: an empty reply, a body that is not a completion, or a refusal ("As
an AI language model, I cannot ...") is asked again up to `content_retries` times, then the
request is given up with a reason. Nothing of a bad reply is ever returned as a turn.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

import openai

from ..errors import UltraChatError

REFUSAL = re.compile(
    r"(?i)^\W*(?:i'?m sorry|i am sorry|sorry|unfortunately)?[^a-z]*(?:but )?(?:as an ai(?: language"
    r" model)?,? )?i (?:cannot|can't|can not|am unable to|won't|am not able to) (?:help|assist|"
    r"provide|fulfil|fulfill|comply|do that|answer)|\bas an ai language model\b")


class GivenUp(UltraChatError):
    """A request that failed every attempt: `reason` is one of the codes below."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


@dataclass
class Usage:
    """What the run asked for and got, summed over every request (retries included)."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retried: Counter = field(default_factory=Counter)  # content problems asked again, by kind
    given_up: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {"requests": self.requests, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "retried": dict(self.retried),
                "given_up": dict(self.given_up)}


class ChatClient:
    def __init__(self, endpoint: str, api_key: str | None = None, timeout: float = 120.0,
                 max_retries: int = 6, content_retries: int = 3):
        self.endpoint = endpoint
        self.content_retries = content_retries
        self.usage = Usage()
        self._client = openai.AsyncOpenAI(base_url=endpoint, api_key=api_key or "not-needed",
                                          timeout=timeout, max_retries=max_retries)

    async def ask(self, model: str, messages: list[dict], *, seed: int, temperature: float = 0.8,
                  max_tokens: int | None = None, check=None) -> tuple[str, dict]:
        """The reply's text and its token usage. `check(text)` returns a problem (a short code)
        or None; a reply with a problem is asked again, with the seed moved on."""
        problem = detail = ""
        for attempt in range(self.content_retries + 1):
            try:
                response = await self._client.chat.completions.create(
                    model=model, messages=messages, temperature=temperature, seed=seed + attempt,
                    **({"max_tokens": max_tokens} if max_tokens else {}))
            except (openai.APIConnectionError, openai.APIStatusError) as error:
                # The client's own retries are spent: the endpoint is down or refuses us.
                self.usage.given_up["request_failed"] += 1
                raise GivenUp("request_failed", f"{type(error).__name__}: {error}") from error
            except (openai.APIResponseValidationError, ValueError) as error:
                problem, detail = "malformed_reply", f"{type(error).__name__}: {error}"
            else:
                self.usage.requests += 1
                usage = getattr(response, "usage", None)
                counts = {"prompt_tokens": getattr(usage, "prompt_tokens", 0) or 0,
                          "completion_tokens": getattr(usage, "completion_tokens", 0) or 0}
                self.usage.prompt_tokens += counts["prompt_tokens"]
                self.usage.completion_tokens += counts["completion_tokens"]
                text = _reply_text(response)
                if text is None:
                    problem, detail = "malformed_reply", "no choices[0].message.content"
                elif not text.strip():
                    problem, detail = "empty_reply", "the reply is empty"
                elif REFUSAL.search(text):
                    problem, detail = "refusal", text[:120]
                elif check is not None and (problem := check(text)):
                    detail = text[:120]
                else:
                    return text.strip(), counts
            self.usage.retried[problem] += 1
        self.usage.given_up[problem] += 1
        raise GivenUp(problem, detail)

    async def close(self) -> None:
        await self._client.close()


def _reply_text(response) -> str | None:
    try:
        content = response.choices[0].message.content
    except (AttributeError, IndexError, TypeError):
        return None
    return content if isinstance(content, str) else None
