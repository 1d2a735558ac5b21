"""The store: the SQLite schema and its migrations, the connection and its error mapping, the row and WHERE
helpers, and the label rules. Everything above reads and writes the experiment's data through here."""
