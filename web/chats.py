"""Sending: one reply to the open conversation, a regenerated or edited turn, or a comparison.

Every entry point checks what it needs before it changes anything, so a refused
message is never half-sent and the page can keep what the person typed. A
reply is saved when it ends, whole or with its error; when the browser refuses
to save it, the reply says so.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from web.chat import ChatSession, ChatUpdate, Conversation, ReplyStats
from web.dialects import ChatParams
from web.errors import DetourError, RouteError, StorageFull
from web.gateway import GATEWAY_PROVIDER_ID
from web.notices import Change
from web.providers import Provider

if TYPE_CHECKING:
    from web.app import App

COMPARE_MIN, COMPARE_MAX = 2, 4


@dataclass(frozen=True)
class CompareRun:
    """One column of a comparison: who answers, and the stream of its reply."""

    provider: Provider
    model: str
    updates: AsyncIterator[ChatUpdate]


class Chats:
    """The chat half of the app: sessions running now, and how replies are saved."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.session: ChatSession | None = None
        self.comparing: list[ChatSession] = []

    # --- checks, before anything changes ---------------------------------------------

    def check(self, provider_id: str, model: str) -> tuple[Provider, str]:
        """The provider and model to use; raises `DetourError` naming the fix."""
        provider = self.app.provider(provider_id)
        if provider is None:
            raise DetourError("Choose a provider first", hint="add one with 'Add provider'")
        if not provider.enabled:
            raise DetourError(f"{provider.name} is disabled", hint="enable it, or pick another")
        if not model.strip():
            raise DetourError(f"Choose a model for {provider.name}", hint="or type a model id")
        if self.busy:
            raise DetourError("A reply is still arriving", hint="wait, or press Stop")
        return provider, model.strip()

    @property
    def busy(self) -> bool:
        return self.session is not None or bool(self.comparing)

    # --- the open conversation ---------------------------------------------------------

    def send(self, provider_id: str, model: str, text: str) -> AsyncIterator[ChatUpdate]:
        """Add the person's message and stream the reply; raises before changing anything."""
        provider, model = self.check(provider_id, model)
        if not text.strip():
            raise DetourError("Write a message first")
        conversation = self.app.conversation
        conversation.add("user", text)
        self.app.changed(Change.CONVERSATION)
        return self._stream(provider, model, conversation)

    def regenerate(self, provider_id: str, model: str) -> AsyncIterator[ChatUpdate]:
        """Drop the last reply and ask again."""
        provider, model = self.check(provider_id, model)
        conversation = self.app.conversation
        messages = conversation.messages
        last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
        if last_user < 0:
            raise DetourError("There is no message to answer again", hint="write one first")
        del messages[last_user + 1 :]
        self.app.changed(Change.CONVERSATION)
        return self._stream(provider, model, conversation)

    def edit_last(self, provider_id: str, model: str, text: str) -> AsyncIterator[ChatUpdate]:
        """Replace the last message (and what followed it) and send it again."""
        provider, model = self.check(provider_id, model)
        if not text.strip():
            raise DetourError("Write a message first")
        messages = self.app.conversation.messages
        last_user = max((i for i, m in enumerate(messages) if m.role == "user"), default=-1)
        if last_user < 0:
            raise DetourError("There is no message to edit", hint="write one first")
        del messages[last_user:]
        self.app.conversation.add("user", text)
        self.app.changed(Change.CONVERSATION)
        return self._stream(provider, model, self.app.conversation)

    async def _stream(
        self, provider: Provider, model: str, conversation: Conversation
    ) -> AsyncIterator[ChatUpdate]:
        app = self.app
        conversation_id = app.conversations.active
        settings = app.state.settings
        params = ChatParams(max_tokens=settings.max_tokens, temperature=settings.temperature)
        session = ChatSession(
            app.router, provider, model, conversation, params=params, system=settings.system_prompt
        )
        self.session = session
        own = provider.id == GATEWAY_PROVIDER_ID
        try:
            async for update in session.stream():
                if isinstance(update, ReplyStats):
                    if own:
                        update = replace(update, route="gateway")  # its own models' road
                        session.reply.meta["route"] = "gateway"
                    update = replace(
                        update, unsaved=self._persist(conversation_id, provider, model)
                    )
                yield update
        except RouteError as error:
            explained = await app.explain(provider, error)
            session.reply.error = explained
            unsaved = self._persist(conversation_id, provider, model)
            message = f"{explained}. {unsaved}" if unsaved else explained
            raise RouteError(message, route=error.route) from error
        finally:
            self.session = None
            app.changed(Change.CONVERSATION)

    def _persist(self, conversation_id: str, provider: Provider, model: str) -> str:
        """Save the conversation and the choice; the failure in words, or ""."""
        app = self.app
        settings = app.state.settings
        settings.active_provider, settings.active_model = provider.id, model
        try:
            app.conversations.save(conversation_id, provider.id, model)
            app.save_state()
        except StorageFull as error:
            return f"Not saved: {error}"
        finally:
            app.changed(Change.CONVERSATIONS)
        return ""

    # --- comparing ---------------------------------------------------------------------

    def compare(self, targets: list[tuple[str, str]], text: str) -> list[CompareRun]:
        """Send one message to two to four models at once; nothing is saved."""
        if not COMPARE_MIN <= len(targets) <= COMPARE_MAX:
            raise DetourError(f"Choose {COMPARE_MIN} to {COMPARE_MAX} models to compare")
        if len(set(targets)) != len(targets):
            raise DetourError("Each column needs a different model", hint="change a duplicate")
        if not text.strip():
            raise DetourError("Write a message first")
        checked = [self.check(pid, model) for pid, model in targets]
        settings = self.app.state.settings
        params = ChatParams(max_tokens=settings.max_tokens, temperature=settings.temperature)
        runs: list[CompareRun] = []
        for provider, model in checked:
            conversation = Conversation()
            conversation.add("user", text)
            session = ChatSession(
                self.app.router,
                provider,
                model,
                conversation,
                params=params,
                system=settings.system_prompt,
            )
            self.comparing.append(session)
            runs.append(CompareRun(provider, model, self._column(session, provider)))
        return runs

    async def _column(self, session: ChatSession, provider: Provider) -> AsyncIterator[ChatUpdate]:
        try:
            async for update in session.stream():
                if provider.id == GATEWAY_PROVIDER_ID and isinstance(update, ReplyStats):
                    update = replace(update, route="gateway")
                yield update
        except RouteError as error:
            raise RouteError(await self.app.explain(provider, error), route=error.route) from error
        finally:
            if session in self.comparing:
                self.comparing.remove(session)

    def stop(self) -> None:
        """Stop every reply arriving; what arrived is kept."""
        for session in [*([self.session] if self.session else []), *self.comparing]:
            session.cancel()
