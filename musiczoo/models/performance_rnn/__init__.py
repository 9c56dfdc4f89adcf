"""Performance RNN (Magenta's performance, performance_with_dynamics) on the events-RNN core."""
