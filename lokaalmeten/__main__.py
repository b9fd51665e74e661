from lokaalmeten.cli import main

# Guarded: the gateway's writer processes start by importing the main module (spawn).
if __name__ == "__main__":
    main()
