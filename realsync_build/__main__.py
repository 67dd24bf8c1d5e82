from realsync_build.cli import main

main()
