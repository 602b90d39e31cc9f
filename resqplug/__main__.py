from resqplug.cli import main

main()
