defmodule MixApp.MixProject do
  use Mix.Project

  def project do
    [
      app: :mix_app,
      version: "0.1.0",
      elixir: "~> 1.14",
      start_permanent: Mix.env() == :prod,
      deps: deps()
    ]
  end

  def application do
    [mod: {MixApp.Application, []}, extra_applications: [:logger]]
  end

  defp deps do
    # The NIF is built by shards' own :shards_nif compiler (defined in its mix.exs).
    [{:shards, path: "../.."}]
  end
end
