"""The services every front door calls: graphs and executions."""
