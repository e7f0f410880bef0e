"""Official decision letter rendering (see ``app.letters.render``)."""
