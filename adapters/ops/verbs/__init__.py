"""The operations a recipe runs, one module each: its recipe model (the op's parameters and
checks) and its runner, registered with :func:`loradex.adapters.ops.registry.operation`. A verb
module imports pydantic and the recipe base only; the code that does the work is imported when
it runs. Adding an operation is adding a module here (see the README's "Add an operation")."""
