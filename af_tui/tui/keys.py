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
back when it closes."""

from __future__ import annotations

from collections import deque

from textual import events

_REMEMBERED = 256  # keys read but not yet back (most never come back: a widget used them)


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

    def take_held_keys(self, held: deque[events.Key]) -> None:
        raise NotImplementedError


class KeysInOrder:
    """Mixed into the apps (before App): keys held while a `TakesTurns` screen waits for the store, given to
    it once it may go on; keys read for one screen and back unhandled after it left the top, sent again."""

    _read_for: dict[int, tuple[events.Key, object]]
    _held_keys: deque[events.Key]

    @property
    def keys_held(self) -> int:
        """How many keys wait for a screen's store turn (tests wait for none)."""
        return len(self.__dict__.get("_held_keys", ()))

    def _held(self) -> deque[events.Key]:
        return self.__dict__.setdefault("_held_keys", deque())

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            screen, held = self.screen, self._held()
            takes_held = isinstance(screen, TakesHeldKeys)
            if takes_held or held or (isinstance(screen, TakesTurns) and screen.keys_wait()):
                # after the keys typed before it; a priority binding (quit) acts at once, as Textual has it
                if not await self._check_bindings(event.key, priority=True):
                    held.append(event)
                    if takes_held:
                        screen.take_held_keys(held)
                return
            if isinstance(screen, TakesTurns):
                await run_bindings(self, event)
                return
            read_for = self.__dict__.setdefault("_read_for", {})
            read_for[id(event)] = (event, screen)
            while len(read_for) > _REMEMBERED:
                read_for.pop(next(iter(read_for)))
        await super().on_event(event)

    def release_keys(self) -> None:
        """A screen's store answer is on screen (or the note closed): the held keys go on, in order, after what
        the app is handling now."""
        if self.keys_held:
            self.call_later(self._replay_keys)

    async def _replay_keys(self) -> None:
        held = self._held()
        while held:
            screen = self.screen
            if isinstance(screen, TakesTurns):
                if screen.keys_wait():
                    return  # its turn with the store again: it releases the rest when that is done
                await run_bindings(self, held.popleft())
            elif isinstance(screen, TakesHeldKeys):
                screen.take_held_keys(held)
                return
            else:  # another screen (export, the pair view after `q`): the keys as Textual hands them out
                event = held.popleft()
                self.__dict__.setdefault("_read_for", {})[id(event)] = (event, screen)
                await super().on_event(event)

    async def _on_key(self, event: events.Key) -> None:
        kept = self.__dict__.get("_read_for", {}).pop(id(event), None)
        if kept is not None and kept[0] is event and kept[1] is not self.screen:
            event.prevent_default()  # not App's own handler: its bindings are the wrong screen's
            self.post_message(events.Key(event.key, event.character))
