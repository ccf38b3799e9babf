from dropcheck.knowledge.generate import main

if __name__ == "__main__":  # importing the package's modules (a test does) runs nothing
    raise SystemExit(main())
