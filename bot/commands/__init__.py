"""What members and moderators can ask of the bot, platform-neutral; adapters parse, call and render.

- ``moderator_actions``: every moderator action, in the order help lists them (``ACTIONS``), from the
  action modules (deliberation, schedule, values, members, reports); ``base``: how adapters run them
- ``member_commands``: the member commands (`/mge join` …), one table for both platforms and the help
- ``member_data``: a member's own data (`/mge mydata`, `/mge forget` and its confirmation)
- ``buttons``: the one registry from a choice button's key to what a press does
- ``permissions``: who is a moderator
"""
