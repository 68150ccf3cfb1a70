# The NIF compiler is defined here, not in lib/, so that it exists when this
# project is used as a dependency (lib/ is compiled only after compilers run).
# The guard avoids "redefining module" warnings when mix.exs is loaded twice.
unless Code.ensure_loaded?(Mix.Tasks.Compile.ShardsNif) do
  defmodule Mix.Tasks.Compile.ShardsNif do
    @moduledoc """
    Builds the Rust NIF in `native/` with `cargo build --release` and installs
    it as `priv/libshards_nif.so`.

    Cargo is skipped when the installed library is newer than every file in
    `native/src` and than `native/{Cargo.toml,Cargo.lock,build.rs}`; pass
    `--force` to always run it.
    """
    use Mix.Task.Compiler

    @lib "libshards_nif"

    @impl Mix.Task.Compiler
    def run(args) do
      {opts, _, _} = OptionParser.parse(args, switches: [force: :boolean])

      result =
        if opts[:force] || stale?() do
          build()
        else
          {:noop, []}
        end

      # Mix only links priv/ into _build if it existed when the build
      # structure was created, which is not the case on a first build.
      with {status, _} when status in [:ok, :noop] <- result do
        Mix.Project.build_structure()
      end

      result
    end

    @impl Mix.Task.Compiler
    def clean do
      File.rm(dest())
      :ok
    end

    # The project being compiled: this one, or this one as a dependency
    # (Mix runs dependency compilers inside the dependency's project).
    defp root, do: Path.dirname(Mix.Project.project_file() || __ENV__.file)
    defp native_dir, do: Path.join(root(), "native")
    defp dest, do: Path.join([root(), "priv", @lib <> ".so"])

    defp target_dir do
      System.get_env("CARGO_TARGET_DIR") || Path.join(native_dir(), "target")
    end

    defp stale? do
      case File.stat(dest(), time: :posix) do
        {:ok, %{mtime: built}} ->
          sources =
            Path.wildcard(Path.join(native_dir(), "src/**/*")) ++
              Enum.map(["Cargo.toml", "Cargo.lock", "build.rs"], &Path.join(native_dir(), &1))

          Enum.any?(sources, fn path ->
            match?(
              {:ok, %{type: :regular, mtime: m}} when m >= built,
              File.stat(path, time: :posix)
            )
          end)

        {:error, _} ->
          true
      end
    end

    defp build do
      cargo = cargo!()
      Mix.shell().info("Compiling shards_nif (cargo build --release)")

      # cargo names the library .dylib on macOS; the VM loads <name>.so.
      built_lib =
        case :os.type() do
          {:unix, :darwin} -> @lib <> ".dylib"
          _ -> @lib <> ".so"
        end

      env = [{"CARGO_TARGET_DIR", target_dir()}]
      args = ["build", "--release", "--manifest-path", Path.join(native_dir(), "Cargo.toml")]

      case System.cmd(cargo, args, cd: native_dir(), env: env, stderr_to_stdout: true) do
        {_output, 0} ->
          install(Path.join([target_dir(), "release", built_lib]))

        {output, status} ->
          Mix.shell().error(output)
          Mix.shell().error("cargo build failed with exit status #{status}")
          {:error, []}
      end
    end

    # Never overwrite a loaded .so in place: remove it, then copy.
    defp install(source) do
      File.mkdir_p!(Path.dirname(dest()))
      File.rm(dest())
      File.cp!(source, dest())
      {:ok, []}
    end

    defp cargo! do
      home_cargo = Path.expand("~/.cargo/bin/cargo")

      cond do
        path = System.get_env("CARGO") -> path
        path = System.find_executable("cargo") -> path
        File.exists?(home_cargo) -> home_cargo
        true -> Mix.raise("cargo not found; install Rust (https://rustup.rs)")
      end
    end
  end
end

defmodule Shards.MixProject do
  use Mix.Project

  @version "0.1.0"

  def project do
    [
      app: :shards,
      version: @version,
      elixir: "~> 1.14",
      description: "ETS-compatible partitioned tables, implemented as a Rust NIF",
      # Erlang sources in src/ (compiled by mix's :erlang compiler), the
      # Elixir wrapper in lib/.
      erlc_paths: ["src"],
      elixirc_paths: elixirc_paths(Mix.env()),
      compilers: [:shards_nif, :erlang, :elixir, :app],
      # rebar3 owns _build/default and _build/test; keep mix out of its way.
      build_path: "_build/mix",
      # test/ holds the rebar3 (EUnit/CT) suites; ExUnit tests live here.
      test_paths: ["test/elixir"],
      start_permanent: Mix.env() == :prod,
      deps: [],
      package: [
        licenses: ["MIT"],
        files:
          ~w(lib src native/src native/build.rs native/Cargo.* scripts mix.exs rebar.config README* LICENSE*)
      ]
    ]
  end

  def application do
    [extra_applications: []]
  end

  # The tests' support modules are compiled with the project, so that the
  # child nodes some tests start can load them.
  defp elixirc_paths(:test), do: ["lib", "test/elixir/support"]
  defp elixirc_paths(_), do: ["lib"]
end
