"""The app's flows: each action of :data:`..keymap.ACTIONS` is one Textual async worker that
reads top to bottom — ask in a dialog (``push_screen_wait``), run the job (``await
app.jobs.run(job)``), say what it did — and calls ``loradex.registry`` for the work itself.

``catalog`` (rescan, edit, forget), ``workbench`` (quick-test, the mix tray), ``hub`` (publish), ``civitai`` (look up).
An error is a notification (the app's ``on_worker_state_changed``); the app keeps running.
"""
