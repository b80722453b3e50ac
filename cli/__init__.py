"""The command line: `igw` and what it starts (the standalone gateway, the demo, simulated
pods). The only room that may import all the others; none of them imports it."""
