"""Keys count in the order they are typed, across screens: Textual hands a key to the screen on top when the app
reads it, and checks its bindings on the screen on top when it comes back unhandled. A key typed in one burst
after a key that opens or closes a screen (`e` opens the note) was read for one screen and bound on another,
and was lost; such a key is read again, in order, for the screen now on top."""

from __future__ import annotations

from textual import events

_REMEMBERED = 256  # keys read but not yet back (most never come back: a widget used them)


class KeysInOrder:
    """Mixed into the apps (before App): remember which screen each key was read for; a key coming back
    unhandled after that screen has left the top is sent again."""

    _read_for: dict[int, tuple[events.Key, object]]

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            read_for = self.__dict__.setdefault("_read_for", {})
            read_for[id(event)] = (event, self.screen)
            while len(read_for) > _REMEMBERED:
                read_for.pop(next(iter(read_for)))
        await super().on_event(event)

    async def _on_key(self, event: events.Key) -> None:
        kept = self.__dict__.get("_read_for", {}).pop(id(event), None)
        if kept is not None and kept[0] is event and kept[1] is not self.screen:
            event.prevent_default()  # not App's own handler: its bindings are the wrong screen's
            self.post_message(events.Key(event.key, event.character))
