"""The app object: saved state, router, health, discovery and chat, tied together.

Pure core: the page's shell (`web.browser`) builds one `App` with the browser's
transport and storage, and renders what it holds; tests build one with
`MockTransport` and `MemoryStorage`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import TypeVar
from urllib.parse import urlsplit

from web.catalog import get_template, known_models, provider_from_template
from web.chat import ChatUpdate, Conversation
from web.chats import Chats, CompareRun
from web.clock import Clock
from web.conversations import Conversations
from web.discovery import DiscoveryResult, discover_gateway_models, discover_models
from web.drafts import (
    ProviderDraft,
    as_draft,
    describe_stats,
    parse_headers,
    split_models,
)
from web.errors import (
    CorsBlocked,
    DetourError,
    ProviderInvalid,
    RouteError,
    SettingsInvalid,
    StorageFull,
)
from web.events import Event, HealthChanged, RouteChosen
from web.gateway import (
    GATEWAY_PROVIDER_ID,
    GatewayConfig,
    GatewayKind,
    GatewayStatus,
    explain_block,
    gateway_provider,
    probe,
)
from web.health import Health, HealthMonitor, HealthState
from web.keys import for_saving, restore_session_keys, save_session_keys, set_remembered
from web.model_lists import ModelLists, set_apart
from web.notices import Change, Listener, LogLine
from web.providers import Dialect, Provider, Routing
from web.routing import Router
from web.store import AppState, MemoryStorage, Storage, load_state, save_state
from web.transport import Transport

__all__ = ["App", "CompareRun", "ProviderDraft", "as_draft", "describe_stats"]

T = TypeVar("T", int, float)

ACTIVITY_SIZE = 200


class App:
    """Everything the page shows and does, with I/O injected."""

    def __init__(
        self,
        *,
        transport: Transport,
        storage: Storage,
        clock: Clock,
        random: Callable[[], float],
        origin: str = "",
        default_gateway_url: str = "",
        health_interval: float = 60.0,
        session_storage: Storage | None = None,
    ) -> None:
        self.transport = transport
        self.storage = storage
        self.clock = clock
        self.origin = origin
        self.default_gateway_url = default_gateway_url.strip()
        loaded = load_state(storage, now=clock.now)
        self.state: AppState = loaded.state
        self.session_storage = session_storage if session_storage is not None else MemoryStorage()
        restore_session_keys(self.session_storage, self.state)
        self.model_lists = ModelLists(storage)
        inline = self.model_lists.restore(self.state.providers)
        self.problems: list[str] = list(loaded.problems)
        self.activity: deque[LogLine] = deque(maxlen=ACTIVITY_SIZE)
        self.listeners: list[Listener] = []
        self.gateway_models: list[str] = []
        self.notes: dict[str, str] = {}
        self.failed_notes: set[str] = set()  # ids whose note says a listing failed
        self.last_route: dict[str, str] = {}
        self.removed_provider: tuple[int, Provider] | None = None  # for undo
        self.conversations = Conversations(storage, clock.now)
        self.problems.extend(self.conversations.problems)
        self.chats = Chats(self)
        self.router = Router(transport, self.gateway_config, clock, on_event=self._on_event)
        self.router.load_remembered(self.state.routes)
        if inline:  # saved by an earlier version: move the long lists out once
            with contextlib.suppress(StorageFull):
                self.save_state()
        self.monitor = HealthMonitor(
            self.router,
            self.providers,
            random=random,
            on_event=self._on_event,
            on_check=self._on_check,
            interval=health_interval,
        )
        self._refreshing: asyncio.Future[GatewayStatus | None] | None = None

    # --- notification -------------------------------------------------------------

    def changed(self, *changes: Change) -> None:
        """Tell the page which parts of what it shows have changed."""
        for change in changes:
            for listener in list(self.listeners):
                listener(change)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, RouteChosen):
            if self.last_route.get(event.provider_id) != event.route:
                self.last_route[event.provider_id] = event.route
                self.changed(Change.HEALTH)  # the same road again shows nothing new
            routine = event.reason == "remembered" or event.reason.startswith("set to")
            after_fallback = event.route == "gateway" and event.reason.startswith("direct ")
            if routine or after_fallback:
                return  # routine, or already told by the RouteFallback line before it
        line = str(event)
        if isinstance(event, HealthChanged):
            target = self.provider(event.provider_id)
            who = target.name if target else event.provider_id
            line = f"{who}: {event.old} → {event.new} ({event.reason})"
            if event.new == HealthState.HEALTHY.value:
                self.notes.pop(event.provider_id, None)  # "could not be reached" is over
        self.log(line)
        self.changed(Change.HEALTH)

    def _on_check(self, target_id: str, health: Health) -> None:
        """After every check: its latency is shown, stale notes go, the gateway's badge follows."""
        if not health.last_error and target_id in self.failed_notes:
            self.failed_notes.discard(target_id)  # "could not be reached" is over
            self.notes.pop(target_id, None)
        self.changed(Change.HEALTH)
        if target_id != GATEWAY_PROVIDER_ID:
            return
        status = self.router.last_status
        back = status is not None and status.kind is not GatewayKind.UNREACHABLE
        if back and not self.gateway_models and self._refreshing is None:
            self._refreshing = asyncio.ensure_future(self.refresh_gateway())  # list its models
            self._refreshing.add_done_callback(lambda _: setattr(self, "_refreshing", None))

    def log(self, line: str) -> None:
        """Add a line, with its time, to the activity log."""
        self.activity.appendleft(LogLine(line, self.clock.now()))
        self.changed(Change.ACTIVITY)

    @property
    def gateway_status(self) -> GatewayStatus | None:
        """The gateway's latest check: one source, kept live by the health monitor."""
        return self.router.last_status if self.gateway_config() else None

    @property
    def conversation(self) -> Conversation:
        """The open conversation."""
        return self.conversations.current()

    @property
    def session(self) -> object | None:
        return self.chats.session

    # --- gateway ----------------------------------------------------------------

    def gateway_config(self) -> GatewayConfig | None:
        """The gateway in use: the one in Settings, else the page's default."""
        url = self.state.settings.gateway_url.strip() or self.default_gateway_url
        if not url:
            return None
        return GatewayConfig(url, self.state.settings.gateway_token)

    def gateway_provider(self) -> Provider | None:
        """The gateway's own models as a provider, once the gateway has answered."""
        config = self.gateway_config()
        status = self.gateway_status
        if config is None or status is None or status.kind is GatewayKind.UNREACHABLE:
            return None
        provider = gateway_provider(config, status.name or "Gateway")
        provider.models = list(self.gateway_models)
        return provider

    async def refresh_gateway(self) -> GatewayStatus | None:
        """Check the gateway and list its own models."""
        status = await self.router.gateway_status(force=True)
        self.gateway_models = []
        config = self.gateway_config()
        if config and status is not None and status.kind is not GatewayKind.UNREACHABLE:
            try:
                found = await discover_gateway_models(self.router, config, status.name or "Gateway")
            except RouteError as error:
                self.notes[GATEWAY_PROVIDER_ID] = str(error)
                self.failed_notes.add(GATEWAY_PROVIDER_ID)
            else:
                self.gateway_models = found.models
                self.notes[GATEWAY_PROVIDER_ID] = found.note
                self.failed_notes.discard(GATEWAY_PROVIDER_ID)
        self.changed(Change.HEALTH, Change.PROVIDERS)
        return status

    def set_gateway(self, url: str, token: str) -> None:
        """Save the gateway URL and token (an empty URL means the page's default)."""
        url = url.strip()
        if url:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise SettingsInvalid({"gateway_url": "use a URL like http://127.0.0.1:4000"})
        settings = self.state.settings
        old = (settings.gateway_url, settings.gateway_token)
        settings.gateway_url, settings.gateway_token = url, token.strip()
        try:
            self.save_state()
        except StorageFull:
            settings.gateway_url, settings.gateway_token = old
            raise
        self.router.last_status = None
        self.changed(Change.SETTINGS, Change.HEALTH)

    # --- providers --------------------------------------------------------------

    def providers(self) -> list[Provider]:
        """The gateway's provider (if any) followed by the person's providers."""
        own = self.gateway_provider()
        return ([own] if own else []) + list(self.state.providers)

    def provider(self, provider_id: str) -> Provider | None:
        """A provider by id, the gateway's included."""
        return next((p for p in self.providers() if p.id == provider_id), None)

    def models(self, provider: Provider) -> list[str]:
        """The models to offer: found and added by hand, else the template's known ones."""
        return provider.all_models or known_models(provider.template)

    def health(self, provider_id: str) -> Health:
        """The health the monitor last saw for a provider."""
        return self.monitor.health(provider_id)

    async def check_health(self, provider_id: str) -> None:
        """Check one provider's health now (nothing happens for a disabled one)."""
        with contextlib.suppress(KeyError):
            await self.monitor.check_now(provider_id)
        self.changed(Change.HEALTH)

    def build_provider(self, draft: ProviderDraft, original_id: str | None = None) -> Provider:
        """A validated provider from the form; raises `ProviderInvalid`, changes nothing."""
        problems: dict[str, str] = {}
        headers = parse_headers(draft.headers, problems)
        try:
            routing = Routing(draft.routing)
        except ValueError:
            problems["routing"] = "choose auto, direct or gateway"
            routing = Routing.AUTO
        try:
            dialect = Dialect(draft.dialect)
        except ValueError:
            problems["dialect"] = "choose OpenAI-compatible or Anthropic"
            dialect = Dialect.OPENAI
        if problems:
            raise ProviderInvalid(problems)
        original = self.state.provider(original_id) if original_id else None
        if original is not None:
            provider = replace(
                original,
                name=draft.name.strip(),
                base_url=draft.base_url.strip().rstrip("/"),
                dialect=dialect,
                api_key=draft.api_key.strip(),
                headers=headers,
                routing=routing,
                enabled=draft.enabled,
                manual_models=split_models(draft.manual_models),
                models=list(original.models),
                extra=dict(original.extra),
            )
        else:
            taken = [p.id for p in self.state.providers] + [GATEWAY_PROVIDER_ID]
            provider = provider_from_template(
                draft.template if get_template(draft.template) else "custom",
                api_key=draft.api_key,
                base_url=draft.base_url.strip().rstrip("/"),
                name=draft.name.strip(),
                existing_ids=taken,
            )
            provider.dialect = dialect
            provider.headers = headers
            provider.routing = routing
            provider.enabled = draft.enabled
            provider.manual_models = split_models(draft.manual_models)
        set_remembered(provider, draft.remember_key)
        provider.validate()
        return provider

    def save_provider(self, draft: ProviderDraft, original_id: str | None = None) -> Provider:
        """Validate and save a provider; on a problem nothing saved changes."""
        provider = self.build_provider(draft, original_id)
        before = list(self.state.providers)
        if original_id and self.state.provider(original_id):
            index = [p.id for p in self.state.providers].index(original_id)
            self.state.providers[index] = provider
            line = f"{provider.name}: settings saved"
        else:
            self.state.providers.append(provider)
            line = f"{provider.name}: added ({provider.routing.value} route)"
        try:
            self.save_state()
        except StorageFull:
            self.state.providers = before  # nothing shown that was not saved
            raise
        self.log(line)
        self.changed(Change.PROVIDERS)
        return provider

    def set_enabled(self, provider_id: str, enabled: bool) -> None:
        """Turn a provider on or off; a disabled one is not checked or offered."""
        provider = self.state.provider(provider_id)
        if provider is None:
            return
        provider.enabled = enabled
        try:
            self.save_state()
        except StorageFull:
            provider.enabled = not enabled
            raise
        self.log(f"{provider.name}: {'enabled' if enabled else 'disabled'}")
        self.changed(Change.PROVIDERS, Change.HEALTH)

    def delete_provider(self, provider_id: str) -> None:
        """Remove a provider and what is remembered about it; `undo_delete` brings it back."""
        provider = self.state.provider(provider_id)
        if provider is None:
            return
        index = self.state.providers.index(provider)
        settings = self.state.settings
        remembered = self.router.remembered_routes().get(provider_id)
        was_active = settings.active_provider == provider_id
        self.state.providers.remove(provider)
        self.router.forget(provider_id)
        if was_active:
            settings.active_provider = ""
        try:
            self.save_state()
        except StorageFull:
            self.state.providers.insert(index, provider)
            self.router.load_remembered({provider_id: remembered} if remembered else {})
            if was_active:
                settings.active_provider = provider_id
            raise
        self.removed_provider = (index, provider)
        self.log(f"{provider.name}: removed")
        self.changed(Change.PROVIDERS, Change.HEALTH, Change.SETTINGS)

    def undo_delete(self) -> Provider | None:
        """Put back the provider removed last."""
        if self.removed_provider is None:
            return None
        index, provider = self.removed_provider
        self.state.providers.insert(min(index, len(self.state.providers)), provider)
        try:
            self.save_state()
        except StorageFull:
            self.state.providers.remove(provider)
            raise
        self.removed_provider = None
        self.log(f"{provider.name}: restored")
        self.changed(Change.PROVIDERS, Change.HEALTH)
        return provider

    async def refresh_models(self, provider_id: str) -> DiscoveryResult:
        """List a provider's models over its road; saved with the provider."""
        if provider_id == GATEWAY_PROVIDER_ID:
            await self.refresh_gateway()
            provider = self.gateway_provider()
            models = provider.models if provider else []
            return DiscoveryResult(models, "provider", None, self.notes.get(provider_id, ""))
        provider = self.state.provider(provider_id)
        if provider is None:
            raise DetourError("That provider no longer exists", hint="pick another provider")
        try:
            result = await discover_models(self.router, provider, known_models(provider.template))
        except RouteError as error:
            self.notes[provider_id] = await self.explain(provider, error)
            self.failed_notes.add(provider_id)
            self.changed(Change.HEALTH)
            raise
        provider.models = result.models
        self.notes[provider_id] = result.note
        self.failed_notes.discard(provider_id)
        with contextlib.suppress(StorageFull):  # the list is kept in memory; found again later
            self.save_state()
        self.changed(Change.PROVIDERS, Change.HEALTH)
        return result

    async def check_provider(self, draft: ProviderDraft, original_id: str | None) -> str:
        """Try a provider's settings without saving them; say what happened."""
        provider = self.build_provider(draft, original_id)
        try:
            result = await discover_models(self.router, provider, known_models(provider.template))
        except RouteError as error:
            return await self.explain(provider, error)
        # this check's own road first: `last_route` may be from an earlier call
        road = result.route.value if result.route else self.last_route.get(provider.id, "")
        via = f" via {road}" if road else ""
        return f"{result.note or 'it answered'}{via}"

    async def explain(self, provider: Provider, error: RouteError) -> str:
        """The error's message, plus what the gateway saw when the browser was blocked."""
        text = str(error)
        config = self.gateway_config()
        status = self.gateway_status
        if isinstance(error, CorsBlocked) and config and status and status.relay:
            try:
                found = await probe(self.transport, config, provider.base_url, self.origin)
            except (RouteError, DetourError):
                return text
            return f"{text} ({explain_block(found, self.origin)})"
        return text

    # --- chat -----------------------------------------------------------------------

    def select(self, provider_id: str, model: str) -> None:
        """Remember the provider and model the person chats with (best effort)."""
        self.state.settings.active_provider = provider_id
        self.state.settings.active_model = model
        with contextlib.suppress(StorageFull):  # saved again with the next reply
            self.save_state()
        self.changed(Change.SETTINGS)

    def settle_choice(self) -> bool:
        """Choose a provider and model when none is chosen yet; True if it chose.

        The first enabled provider, and its first listed model once one is known;
        a model typed by hand is never replaced. Nothing is saved for this alone.
        """
        settings = self.state.settings
        provider = self.provider(settings.active_provider)
        if provider is None or not provider.enabled:
            provider = next((p for p in self.providers() if p.enabled), None)
        if provider is None:
            return False
        model = settings.active_model if provider.id == settings.active_provider else ""
        if not model and provider.all_models:
            model = provider.all_models[0]
        if (provider.id, model) == (settings.active_provider, settings.active_model):
            return False
        settings.active_provider, settings.active_model = provider.id, model
        self.changed(Change.SETTINGS)  # kept in memory; saved with the next real change
        return True

    def send(self, provider_id: str, model: str, text: str) -> AsyncIterator[ChatUpdate]:
        """Add the person's message and stream the reply; raises before changing anything."""
        return self.chats.send(provider_id, model, text)

    def set_preferences(self, system_prompt: str, temperature: str, max_tokens: str) -> None:
        """Save how replies are asked for; a blank number means the provider's default."""
        problems: dict[str, str] = {}
        temp = _number(temperature, float)
        if temp is not None and not 0.0 <= temp <= 2.0:
            problems["temperature"] = "use a number from 0 to 2, or leave it empty"
        limit = _number(max_tokens, int)
        if limit is not None and limit <= 0:
            problems["max_tokens"] = "use a whole number above 0, or leave it empty"
        if problems:
            raise SettingsInvalid(problems)
        settings = self.state.settings
        old = (settings.system_prompt, settings.temperature, settings.max_tokens)
        settings.system_prompt = system_prompt.strip()
        settings.temperature = temp
        settings.max_tokens = limit
        try:
            self.save_state()
        except StorageFull:
            settings.system_prompt, settings.temperature, settings.max_tokens = old
            raise
        self.changed(Change.SETTINGS)

    def stop(self) -> None:
        """Stop every reply that is arriving; what arrived is kept."""
        self.chats.stop()

    # --- conversations ------------------------------------------------------------------

    def new_conversation(self) -> None:
        """Open an empty conversation; it joins the list with its first message."""
        self.conversations.start()
        self.changed(Change.CONVERSATION, Change.CONVERSATIONS)

    def open_conversation(self, conversation_id: str) -> None:
        """Open a conversation from the list, with its provider and model."""
        self.conversations.open(conversation_id)
        entry = self.conversations.entry(conversation_id)
        if entry and entry.provider_id and self.provider(entry.provider_id):
            self.state.settings.active_provider = entry.provider_id
            self.state.settings.active_model = entry.model
            self.changed(Change.SETTINGS)
        self.changed(Change.CONVERSATION, Change.CONVERSATIONS)

    def rename_conversation(self, conversation_id: str, title: str) -> None:
        self.conversations.rename(conversation_id, title)
        self.changed(Change.CONVERSATIONS)

    def delete_conversation(self, conversation_id: str) -> str:
        """Delete a conversation; returns its title (for the undo notice)."""
        entry = self.conversations.remove(conversation_id)
        self.changed(Change.CONVERSATION, Change.CONVERSATIONS)
        return entry.title

    def undo_delete_conversation(self) -> None:
        self.conversations.undo_remove()
        self.changed(Change.CONVERSATION, Change.CONVERSATIONS)

    # --- export / import --------------------------------------------------------------

    def export(self, include_keys: bool = False) -> str:
        """The person's providers as JSON (keys left out unless asked)."""
        from web.portability import export_providers

        return export_providers(self.state.providers, include_keys=include_keys)

    def import_text(self, text: str) -> str:
        """Import providers from Detour JSON or a LiteLLM `model_list` YAML; say what changed."""
        from web.portability import import_litellm_yaml, import_providers

        stripped = text.strip()
        if not stripped:
            raise DetourError("Nothing to import", hint="paste a Detour export or a LiteLLM YAML")
        if stripped.startswith(("{", "[")):
            result = import_providers(stripped, self.state.providers)
        else:
            result = import_litellm_yaml(stripped, self.state.providers)
        before = self.state.providers
        self.state.providers = list(result.providers)
        try:
            self.save_state()
        except StorageFull:
            self.state.providers = before
            raise
        self.changed(Change.PROVIDERS, Change.HEALTH)
        summary = result.summary()
        self.log(summary)
        details = [*result.notes, *(f"skipped {s.label}: {s.reason}" for s in result.skipped)]
        return "\n".join([summary, *details])

    # --- set-aside entries --------------------------------------------------------------

    def export_set_aside(self, include_keys: bool = False) -> str:
        from web.quarantine import export_text

        return export_text(self.state.quarantine, include_keys)

    def remove_set_aside(self, index: int) -> None:
        entry = self.state.quarantine.pop(index)
        try:
            self.save_state()
        except StorageFull:
            self.state.quarantine.insert(index, entry)
            raise
        self.log(f"set-aside entry {entry.source} removed")
        self.changed(Change.SETTINGS)

    def load_set_aside(self, index: int, text: str) -> Provider:
        """Load an edited set-aside entry as a provider; nothing changes if it is still wrong."""
        from web.quarantine import load_edited

        providers, quarantine = list(self.state.providers), list(self.state.quarantine)
        provider = load_edited(self.state, index, text)
        try:
            self.save_state()
        except StorageFull:
            self.state.providers, self.state.quarantine = providers, quarantine
            raise
        self.log(f"{provider.name}: loaded from the set-aside entries")
        self.changed(Change.PROVIDERS, Change.HEALTH, Change.SETTINGS)
        return provider

    # --- saving -----------------------------------------------------------------------

    def save_state(self) -> None:
        """Write providers, settings and remembered routes; raises `StorageFull`."""
        self.state.routes = self.router.remembered_routes()
        saved, session_keys = for_saving(self.state)
        saved, apart = set_apart(saved)
        try:
            self.model_lists.save(apart)
            save_state(self.storage, saved)
            save_session_keys(self.session_storage, session_keys)
        except StorageFull:
            raise
        except Exception as error:  # a browser's own refusal, whatever its type
            raise StorageFull(f"The browser refused to save settings ({error})") from None

    # --- running ----------------------------------------------------------------------

    async def start(self) -> None:
        """Find the gateway, then check health until cancelled while models are listed.

        Listing runs beside the monitor, so a slow provider delays nothing else.
        """
        await self.refresh_gateway()
        empty = [p for p in self.state.providers if p.enabled and not p.all_models]
        await asyncio.gather(self.monitor.run(), *(self._quiet_refresh(p.id) for p in empty))

    async def _quiet_refresh(self, provider_id: str) -> None:
        # a failure is shown as the provider's note; health monitoring reports it too
        with contextlib.suppress(RouteError, DetourError):
            await self.refresh_models(provider_id)


def _number(text: str, kind: type[T]) -> T | None:
    """A number typed by a person, None when blank; NaN-like junk becomes -1 (out of range)."""
    if not text.strip():
        return None
    try:
        return kind(text.strip())
    except ValueError:
        return kind(-1)
