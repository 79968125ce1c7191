// Per-transport entry points behind connect_transport() / listen_on().
#pragma once

#include <memory>
#include <string>

#include "proto/transport.h"

namespace xen3d::proto {

std::unique_ptr<Transport> connect_local(const Endpoint& ep, const ConnectRequest& req,
                                         SessionInfo& info, std::string& error);
std::unique_ptr<Listener> listen_local(const Endpoint& ep, std::string& error);
// Transport::handoff's other end (render workers): [sock, shm, wait, kick] fds.
std::unique_ptr<Transport> adopt_local(TransportHandoff& h, std::string& error);
std::unique_ptr<Transport> connect_tcp(const Endpoint& ep, const ConnectRequest& req,
                                       SessionInfo& info, std::string& error);
std::unique_ptr<Listener> listen_tcp(const Endpoint& ep, std::string& error);
// Transport::handoff's other end for tcp: [socket]; a fresh mirror.
std::unique_ptr<Transport> adopt_tcp(TransportHandoff& h, std::string& error);
// xen/transport_xen.cpp
std::unique_ptr<Transport> connect_xen(const Endpoint& ep, const ConnectRequest& req,
                                       SessionInfo& info, std::string& error);
std::unique_ptr<Listener> listen_xen(const Endpoint& ep, std::string& error);
// Transport::handoff's other end for xen: the event channel handle's
// descriptors, and words [domid, control ref, the bound port, data pages,
// data refs...]; the worker maps the guest's grants itself.
std::unique_ptr<Transport> adopt_xen(TransportHandoff& h, std::string& error);

}  // namespace xen3d::proto
