"""OpenAI chat completions ↔ Anthropic's Messages API, both directions.

The ``anthropic`` provider kind uses the ``*_to_messages`` request and ``*_to_chat``
answer halves (a chat client, a Claude upstream); the ``/v1/messages`` door uses the
others (a Messages client, an OpenAI-compatible upstream).

| module                  | from → to                          |
|-------------------------|------------------------------------|
| request_to_messages     | chat body → Messages body          |
| request_to_chat         | Messages body → chat body          |
| response_to_chat        | message → chat completion          |
| response_to_messages    | chat completion → message          |
| stream_to_chat          | Messages events → chat chunks      |
| stream_to_messages      | chat chunks → Messages events      |
| errors                  | error bodies, both ways            |
"""
