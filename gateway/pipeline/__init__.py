"""One request pipeline behind every front door (see the README's design notes).

A door (``gateway/doors/<name>/``) knows one wire format; the pipeline runs the stages
every request shares: authenticate, resolve, admit, run the plan, relay, account.
"""
