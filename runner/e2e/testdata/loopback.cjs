// Preloaded (node --require) into a reference server the tests start on a port of their own: a
// listen on a port without a host binds 127.0.0.1 instead of every interface, so that nothing a
// test starts is reachable from the network.
const net = require("node:net");
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if ((typeof args[0] === "number" || typeof args[0] === "string") && typeof args[1] !== "string") {
    args.splice(1, 0, "127.0.0.1");
  }
  return listen.apply(this, args);
};
