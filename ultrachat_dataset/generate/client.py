"""Requests to one OpenAI-compatible endpoint (vLLM, llama.cpp, Ollama, TGI, OpenAI).

Transport failures (408/409/429/5xx, timeouts, cut connections) are retried here with
exponential backoff that honours `Retry-After`, each attempt bounded as a whole by the timeout
(the `openai` client's own timeout restarts with every byte). When they are spent, or the
endpoint refuses us (401, 403, 404), the run cannot go on: `EndpointError`. A request the
endpoint rejects (400, 413, 422) is given up alone. The content is judged too: an empty reply, a
body that is not a completion, a reply cut at the token limit, a refusal, a reply that speaks as
a role ("Assistant: ...") is asked again up to `content_retries` times, then given up with its
reason. Nothing of a bad reply, and no failure, is ever returned as a turn.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass, field

import openai

from ..errors import UltraChatError

# Refusals in the wordings models use, matched after typography is made plain (’ -> ').
REFUSAL = re.compile(
    r"(?i)^\W*(?:(?:i'?m|i am) (?:so |very )?sorry|sorry|unfortunately|apologies)?[^a-z]*(?:but )?"
    r"(?:as an ai(?: language model)?,? )?i(?:'m| am)? (?:cannot|can't|can not|(?:am )?unable to|won't|"
    r"will not|(?:am )?not able to|must (?:decline|refuse)(?: to)?|do not feel comfortable|"
    r"don't feel comfortable) ?(?:help(?! but\b)|assist|provide|fulfil|fulfill|comply|do that|answer|create|"
    r"write|generate|complete|support|engage|continue|with)|\bas an ai language model\b")
# A reply that speaks as a role ("Assistant: ...") is a transcript, not a turn.
ROLE_PREFIX = re.compile(r"(?i)^\W{0,3}(?:assistant|ai assistant|ai|gpt|chatgpt|system|bot)\s*:")
PLAIN_TYPOGRAPHY = str.maketrans({"\u2018": "'", "\u2019": "'", "\u02bc": "'", "\u201c": '"',
                                  "\u201d": '"', "\u00a0": " "})
# Answers that no retry changes: the endpoint refuses us, or has no such path or model.
REFUSED_STATUS = {401: "the endpoint refused the API key: pass --api-key (or set OPENAI_API_KEY)",
                  403: "the key may not use this endpoint or model: check --api-key and --model",
                  404: "no such path or model there: check --endpoint (it usually ends in /v1) and "
                       "--model (GET <endpoint>/models lists the server's models)"}
# Answers that say this one request is wrong (too long, a bad parameter): it is dropped.
REJECTED_STATUS = (400, 413, 422)


def is_refusal(text: str) -> bool:
    return bool(REFUSAL.search(text.translate(PLAIN_TYPOGRAPHY)))


class EndpointError(UltraChatError):
    """The endpoint cannot be used (unreachable, refusing us, or failing every retry): the run
    stops, and what it made so far is kept for a rerun."""


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
    without_usage: int = 0  # replies that carried no token counts: the sums are then a floor
    retried: Counter = field(default_factory=Counter)  # content problems asked again, by kind
    given_up: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict:
        return {"requests": self.requests, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "requests_without_usage": self.without_usage, "retried": dict(self.retried),
                "given_up": dict(self.given_up)}


class ChatClient:
    """Requests with retries. `timeout` bounds one whole attempt (a server that trickles bytes
    does not hold it longer); 429 (its Retry-After), 408, 409, 5xx, timeouts and cut connections
    are retried `max_retries` times with backoff, then the endpoint is given up on."""

    def __init__(self, endpoint: str, api_key: str | None = None, timeout: float = 120.0,
                 max_retries: int = 6, content_retries: int = 3, backoff: float = 0.5):
        self.endpoint, self.timeout, self.max_retries = endpoint, timeout, max_retries
        self.content_retries, self.backoff = content_retries, backoff
        self.usage = Usage()
        self.reached = False  # has the endpoint answered once? Before that, no connection is final
        self._client = openai.AsyncOpenAI(base_url=endpoint, api_key=api_key or "not-needed",
                                          timeout=timeout, max_retries=0)

    async def ask(self, model: str, messages: list[dict], *, seed: int, temperature: float = 0.8,
                  max_tokens: int | None = None, check=None) -> tuple[str, dict]:
        """The reply's text and its token usage. `check(text)` returns a problem (a short code)
        or None; a reply with a problem is asked again, with the seed moved on."""
        problem = detail = ""
        for attempt in range(self.content_retries + 1):
            try:
                response = await self._send(
                    model=model, messages=messages, temperature=temperature, seed=seed + attempt,
                    **({"max_tokens": max_tokens} if max_tokens else {}))
            except (openai.APIResponseValidationError, ValueError) as error:
                problem, detail = "malformed_reply", f"{type(error).__name__}: {error}"
            else:
                counts = self._count(response)
                text, finish = _reply_text(response)
                if text is None:
                    problem, detail = "malformed_reply", "no choices[0].message.content"
                elif not text.strip():
                    problem, detail = "empty_reply", "the reply is empty"
                elif finish == "length":
                    problem, detail = "cut_off", "finish_reason length: the reply was cut"
                elif is_refusal(text):
                    problem, detail = "refusal", text[:120]
                elif ROLE_PREFIX.match(text):
                    problem, detail = "role_prefix", text[:120]
                elif check is not None and (problem := check(text)):
                    detail = text[:120]
                else:
                    return text.strip(), counts
            self.usage.retried[problem] += 1
        self.usage.given_up[problem] += 1
        raise GivenUp(problem, detail)

    async def _send(self, **request):
        """One completion, retried on what may pass; `EndpointError` when the endpoint is no use."""
        failure = ""
        for attempt in range(self.max_retries + 1):
            wait = self.backoff * 2 ** attempt
            try:
                response = await asyncio.wait_for(self._client.chat.completions.create(**request),
                                                  self.timeout)
                self.reached = True
                return response
            except (asyncio.TimeoutError, openai.APITimeoutError):
                failure = f"no whole answer within --timeout {self.timeout:g} s"
            except openai.APIConnectionError as error:
                failure = f"cannot connect ({_cause(error)}): is the server running at that address?"
                # (the transport's ConnectError: httpx's or httpx2's, by the openai version)
                if not self.reached and type(_root(error)).__name__ == "ConnectError":
                    # Never answered, and no connection at all: a wrong address, not a hiccup.
                    raise EndpointError(f"{self.endpoint}: {failure} (no answer to the run's first "
                                        "requests; check --endpoint)") from None
            except openai.APIStatusError as error:
                self.reached = True
                status = error.status_code
                if status in REFUSED_STATUS:
                    raise EndpointError(f"{self.endpoint}: HTTP {status} for model "
                                        f"{request['model']!r}: {REFUSED_STATUS[status]}") from None
                if status in REJECTED_STATUS:
                    self.usage.given_up["request_rejected"] += 1
                    raise GivenUp("request_rejected", f"HTTP {status}: {error.message}") from None
                failure = f"HTTP {status} ({error.message})"
                wait = _retry_after(error) or wait
            if attempt < self.max_retries:
                await asyncio.sleep(min(wait, 60.0))
        raise EndpointError(f"{self.endpoint}: {failure}, {self.max_retries + 1} attempt(s) "
                            "(--max-retries): the run stopped")

    def _count(self, response) -> dict:
        self.usage.requests += 1
        usage = getattr(response, "usage", None)
        if usage is None or getattr(usage, "prompt_tokens", None) is None:
            self.usage.without_usage += 1
            return {"requests_without_usage": 1}
        counts = {"prompt_tokens": usage.prompt_tokens or 0,
                  "completion_tokens": getattr(usage, "completion_tokens", 0) or 0}
        self.usage.prompt_tokens += counts["prompt_tokens"]
        self.usage.completion_tokens += counts["completion_tokens"]
        return counts

    async def close(self) -> None:
        await self._client.close()


def _reply_text(response) -> tuple[str | None, str | None]:
    """The reply's content and finish reason."""
    try:
        choice = response.choices[0]
        content = choice.message.content
    except (AttributeError, IndexError, TypeError):
        return None, None
    return (content if isinstance(content, str) else None), getattr(choice, "finish_reason", None)


def _retry_after(error: openai.APIStatusError) -> float | None:
    try:
        return float(error.response.headers.get("retry-after"))
    except (TypeError, ValueError):
        return None


def _root(error: BaseException) -> BaseException:
    while error.__cause__ is not None:
        error = error.__cause__
    return error


def _cause(error: Exception) -> str:
    root = _root(error)
    return f"{type(root).__name__}: {root}" if str(root) else type(root).__name__
