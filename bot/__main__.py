"""``python -m bot``: the ``mge`` command without the installed script."""

from bot.cli.app import main

main()
