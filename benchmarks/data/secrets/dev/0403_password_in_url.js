module.exports = {
  workers: "4",
  bucket: "assets-prod-7421",
  loglevel: "info",
  brokerurl: "amqp://svc_api:KCNN40No5p3zRUTO@bwwnpf.internal:5432/sgais",
};
