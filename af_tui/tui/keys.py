"""Keys count in the order they are typed, across screens and across the store's turns.

Textual hands a key to the screen on top when the app reads it, and checks its bindings on the screen on top when
it comes back unhandled. A key typed in one burst after a key that opens or closes a screen (`e` opens the note)
was read for one screen and bound on another, and was lost; such a key is read again, in order, for the screen
now on top.

A screen that waits for the store between keys (`TakesTurns`: the label and review screens) gets its keys
another way: the app runs the key's bindings the moment it reads the key, and while the screen waits for the
store every key is held, in typing order, until its answer is on screen (`release_keys`). So a key means what it
would mean typed slowly, whatever the screen was doing when it came: `a enter e w h y enter` opens the note on
the next sample and types "why" into it, where the letters, which have no binding on the label screen, were
dropped while `enter` read. The screen such a key opens for text (`TakesHeldKeys`: the note) takes its keys from
the same hold, in order, from the moment it is pushed (before its input is even mounted), and hands the rest
back when it closes. Pastes are held in the same order as keys (`a enter e` and a paste: the paste goes into the
note), and a paste that reaches a screen without an input is dropped there, as a typed letter would be.

Every other screen (the list, the pair view, the dialogs) gets one key at a time: Textual hands each key to the
widget focused when the app reads it, so in a burst the keys after `/` went to the list, not to the search box
that `/` focuses (`/ training enter`: `a` turned on the candidates and enter opened a pair), and the key after
Esc went into the search. Here a key is handed out only once the one before it has gone its whole way (the
focused widget, its parents, the screen, the app's bindings) and what it set off has settled (a focus change, a
message such as the input's Submitted); the keys read meanwhile, and pastes, are held in order. A key whose
way is lost (a widget removed under it) lets the next go after `_KEY_TIMEOUT_S`.

Esc and a letter read at once come from the terminal as the bytes of alt+letter; with no alt binding active they
are read as the two keys (`Escape j Enter` in one burst from a pair view: back, next row, open it)."""

from __future__ import annotations

from collections import deque

from textual import events

_REMEMBERED = 256  # keys read but not yet back (most never come back: a widget used them)
_KEY_TIMEOUT_S = 1.0  # a key not through by then lets the next one go (its way was lost)
_SETTLE_HOPS = 100  # at most this many turns of the app's queue waiting for a key's effects to settle


async def run_bindings(app, event: events.Key) -> None:
    """The key's bindings on the screen on top, run now (priority ones first): what Textual does with a key that
    the screen's widgets pass up, without the trip through their message queues."""
    app.app_focus = True
    if not await app._check_bindings(event.key, priority=True):
        await app._check_bindings(event.key)


class TakesTurns:
    """Mixed into a screen whose keys may have to wait for the store; `keys_wait()` says when they do. Its keys
    go straight to its bindings (it has no widget that takes keys), so none is on its way while it waits."""

    def keys_wait(self) -> bool:
        return False


class TakesHeldKeys:
    """Mixed into a screen that a `TakesTurns` screen opens for text (the note): every key typed while it is on
    top is held for it, and `take_held_keys` gives it the held keys, in order, as they come, whether or not its
    input is there yet; it takes those typed for it, and leaves the rest held, to the screen below once it
    closes (it calls `KeysInOrder.release_keys` then)."""

    def take_held_keys(self, held: deque[events.Key | events.Paste]) -> None:
        raise NotImplementedError


class KeysInOrder:
    """Mixed into the apps (before App): keys held while a `TakesTurns` screen waits for the store, given to
    it once it may go on; keys read for one screen and back unhandled after it left the top, sent again."""

    _read_for: dict[int, tuple[events.Key, object]]
    _held_keys: deque[events.Key | events.Paste]

    @property
    def keys_held(self) -> int:
        """How many keys wait for a screen's store turn (tests wait for none)."""
        return len(self.__dict__.get("_held_keys", ()))

    def _held(self) -> deque[events.Key | events.Paste]:
        return self.__dict__.setdefault("_held_keys", deque())

    async def on_event(self, event: events.Event) -> None:
        typed = isinstance(event, (events.Key, events.Paste)) and not event.is_forwarded
        if typed and isinstance(event, events.Key) and self._escape_then_key(event):
            # Esc and the key after it read at once (a burst, tmux send-keys, a fast typist) reach the app as
            # one alt+key, which no binding here takes: they are the two keys typed, in order.
            for key in (events.Key("escape", "\x1b"), events.Key(event.character, event.character)):
                await self.on_event(key)
            return
        if typed:
            screen, held = self.screen, self._held()
            takes_held = isinstance(screen, TakesHeldKeys)
            takes_turns = isinstance(screen, TakesTurns)
            if takes_held or held or (takes_turns and screen.keys_wait()) or self._in_flight() is not None:
                # after the keys typed before it (a paste held behind `e` goes into the note `e` opens); a
                # priority binding (quit) acts at once, as Textual has it
                if isinstance(event, events.Paste) or not await self._check_bindings(event.key, priority=True):
                    held.append(event)
                    if takes_held:
                        screen.take_held_keys(held)
                return
            if isinstance(event, events.Paste):
                await super().on_event(event)
                return
            if takes_turns:
                await run_bindings(self, event)
                return
            await self._send(event)
            return
        await super().on_event(event)

    def _escape_then_key(self, event: events.Key) -> bool:
        """An alt+letter (or digit) that no active binding takes: the terminal's bytes for Esc then the letter."""
        character = event.character
        return (event.key.startswith("alt+") and character is not None and len(character) == 1
                and character.isalnum() and event.key not in self.screen.active_bindings)

    def _in_flight(self) -> events.Key | None:
        return self.__dict__.get("_key_in_flight")

    async def _send(self, event: events.Key | events.Paste) -> None:
        """Hand a key (or a paste) to the focused widget as Textual does, and hold the next until it is through."""
        screen = self.screen
        target = self.focused or screen
        if isinstance(event, events.Key):
            read_for = self.__dict__.setdefault("_read_for", {})
            read_for[id(event)] = (event, screen)
            while len(read_for) > _REMEMBERED:
                read_for.pop(next(iter(read_for)))
        self.__dict__["_key_in_flight"] = event
        self.set_timer(_KEY_TIMEOUT_S, lambda: self._key_through(event))
        await super().on_event(event)
        if event.is_forwarded:  # on its way up from the focused widget: follow it, a turn of each queue behind it
            if not target.call_later(self._key_travels, event, target):
                self._key_through(event)
        else:  # a priority binding took it
            self._settle(event, target, 0)

    def _key_travels(self, event, node) -> None:
        """Runs in node's queue just behind the key: the node has handled it, and passed it up unless stopped."""
        parent = node._parent
        if node is self or parent is None or not node.is_attached:
            self._settle(event, node, 0)
        elif event._stop_propagation and parent is not self:  # a widget used it (the screen stops it on to us)
            self.call_later(self._settle, event, node, 0)
        elif not parent.call_later(self._key_travels, event, parent):
            self._key_through(event)

    def _settle(self, event, node, hops: int) -> None:
        """The key is through; the next goes once what it set off has settled: the queues from the widget it
        went to and from the focused one up to the screen are empty, and a turn of the app's queue is over
        (a focus change is a callback there)."""
        if self._in_flight() is not event:
            return
        pumps = set()
        for start in (node, self.focused):
            while start is not None and start is not self:
                pumps.add(start)
                start = start._parent
        busy = any(not pump._message_queue.empty() for pump in pumps)
        if hops < _SETTLE_HOPS and (busy or hops == 0):
            self.call_later(self._settle, event, node, hops + 1)
        else:
            self._key_through(event)

    def _key_through(self, event) -> None:
        if self._in_flight() is event:
            self.__dict__["_key_in_flight"] = None
            self.release_keys()

    def release_keys(self) -> None:
        """A screen's store answer is on screen (or the note closed, or a key is through): the held keys go on,
        in order, after what the app is handling now."""
        if self.keys_held:
            self.call_later(self._replay_keys)

    async def _replay_keys(self) -> None:
        held = self._held()
        while held and self._in_flight() is None:
            screen = self.screen
            if isinstance(screen, TakesTurns):
                if screen.keys_wait():
                    return  # its turn with the store again: it releases the rest when that is done
                event = held.popleft()
                if isinstance(event, events.Key):  # a paste means nothing to a screen without an input
                    await run_bindings(self, event)
            elif isinstance(screen, TakesHeldKeys):
                screen.take_held_keys(held)
                return
            else:  # another screen (the list, export, the pair view after `q`): one key at a time
                await self._send(held.popleft())

    async def _on_key(self, event: events.Key) -> None:
        kept = self.__dict__.get("_read_for", {}).pop(id(event), None)
        if kept is not None and kept[0] is event and kept[1] is not self.screen:
            event.prevent_default()  # not App's own handler: its bindings are the wrong screen's
            # read again for the screen now on top, before the keys typed after it
            self._held().appendleft(events.Key(event.key, event.character))
            self.release_keys()
