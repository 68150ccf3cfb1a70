defmodule MixApp do
  @moduledoc """
  Minimal application using shards as a path dependency: a cache table in
  the supervision tree (`MixApp.Application`) used by `MixApp.Cache`.
  """

  @doc """
  Stores a greeting in the cache and reads it back.

      iex> MixApp.run()
      "hello from shards"
  """
  @spec run() :: String.t()
  def run do
    :ok = MixApp.Cache.put(:greeting, "hello from shards")
    MixApp.Cache.get(:greeting)
  end
end
