from lokaalmeten.cli import main

main()
