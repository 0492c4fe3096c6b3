from instructscale.cli.main import main

main()
