defmodule Shards.DeepTest do
  # Deep terms through the Elixir API, in a child node (OTP's `:peer`), so
  # that a term that crashed the VM fails this test instead of the run.
  use ExUnit.Case, async: false

  @moduletag timeout: 300_000

  setup_all do
    paths = for p <- :code.get_path(), not List.starts_with?(p, :code.lib_dir()), do: p
    args = Enum.flat_map(paths, &[~c"-pa", &1])
    {:ok, peer, _node} = :peer.start(%{connection: :standard_io, args: args})
    on_exit(fn -> :peer.stop(peer) end)
    %{peer: peer}
  end

  for {shape, depth} <- [
        list: 2_000,
        map_key: 2_000,
        mixed: 2_000,
        tuple: 100_000,
        list: 1_000_000
      ] do
    test "Shards functions with #{shape} terms #{depth} levels deep", %{peer: peer} do
      assert [] ==
               :peer.call(peer, Shards.DeepCases, :run, [unquote(shape), unquote(depth)], 280_000)
    end
  end
end
