"""The visual Builder: an agent edited on a canvas (web page ``/builder`` and ``%wb build``).

- :mod:`.editor`: the graph being edited, every edit checked, undo/redo, copy/paste, import, layout;
- :mod:`.canvas`: the editor's graph drawn by React Flow, and the person's gestures made edits;
- :mod:`.palette`: the block catalogue to drag from;
- :mod:`.backend`: the platform's services for one user (save, versions, run, credentials, assistant);
- :mod:`.view`: all of it put together; :mod:`.page`: the web page.
"""
