
from fabless.callmod import make_callable  # noqa: E402

make_callable(__name__, "validate")  # fabless.validate(...) is the public API function (docs/api.md)
