from s4d_jax.cli import main

main()
