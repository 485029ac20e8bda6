"""The Docker-free local stack and what runs against a project's `supabase/` directory.

    paths          where the project (its migrations, platform stand-in, pgTAP files) and the stack live
    stack          the PostgreSQL cluster shaped like a Supabase project: up, down, reset, env, users
    supabase_cli   the pinned Supabase CLI (`supabase db push`, `db lint`, `gen types`)
    migrations     reading `supabase/migrations` and comparing it with a database's history

Infrastructure shared by the CLI, the tests and the benchmarks; the edge app imports none of it except
on the local stack.
"""
