"""The cm* commands, one module each; thin: parse, call cmcld, render."""
