"""lapsewatch: unverify email addresses whose domains lapse, before someone else can register them."""

__version__ = "0.1.0"
