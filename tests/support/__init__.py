"""What tests share: clients, factories, flows through the processes, files and harnesses. Never a test module."""
