defmodule MixApp.Application do
  @moduledoc """
  Starts the cache table under the application's supervisor: the table is
  owned by a supervised process, not by the processes that use it.
  """
  use Application

  @impl true
  def start(_type, _args) do
    children = [
      {Shards, name: MixApp.Cache.table(), partitions: 4}
    ]

    Supervisor.start_link(children, strategy: :one_for_one, name: MixApp.Supervisor)
  end
end
