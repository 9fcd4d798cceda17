from mge.bot.cli import main

main()
