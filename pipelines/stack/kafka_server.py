"""The local single-node Kafka broker, in KRaft mode, from Maven Central jars."""

from __future__ import annotations

import base64
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from pipelines.errors import StackError
from pipelines.kafka_admin import kafka_answers
from pipelines.stack.fetch import ensure_kafka_libs, kafka_libs_dir
from pipelines.stack.layout import ServerLayout

SERVER_PROPERTIES = """\
# Written by `newswatch stack up`; edits are overwritten.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://{advertised_host}:{port}
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs={data_dir}
num.partitions=3
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
"""

LOG4J2_PROPERTIES = """\
status = warn
appender.file.type = RollingFile
appender.file.name = file
appender.file.fileName = {log_dir}/server.log
appender.file.filePattern = {log_dir}/server.log.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = org.apache.kafka
logger.kafka.level = INFO
"""


@dataclass(frozen=True)
class LocalKafka(ServerLayout):
    name: str = "kafka"

    @property
    def ports(self) -> tuple[int, ...]:
        return (self.settings.kafka_port, self.settings.kafka_controller_port)

    def healthy(self) -> bool:
        return kafka_answers(self.settings.kafka, timeout_s=2.0)

    def prepare(self, java: Path) -> None:
        """Fetch the jars, write the configs and format the storage on first start."""
        ensure_kafka_libs(self.settings.cache_dir, self.settings.deploy_dir, self.versions)
        for folder in (self.data_dir, self.log_dir):
            folder.mkdir(parents=True, exist_ok=True)
        self.home.chmod(0o700)  # its owner's only, like everything in the state folder
        advertised_host = self.settings.kafka_bootstrap.split(",")[0].rpartition(":")[0]
        (self.home / "server.properties").write_text(SERVER_PROPERTIES.format(
            port=self.settings.kafka_port,
            controller_port=self.settings.kafka_controller_port,
            advertised_host=advertised_host,
            data_dir=self.data_dir,
        ))
        (self.home / "log4j2.properties").write_text(LOG4J2_PROPERTIES.format(log_dir=self.log_dir))
        if not (self.data_dir / "meta.properties").exists():
            self._format_storage(java)

    def _format_storage(self, java: Path) -> None:
        cluster_id = base64.urlsafe_b64encode(os.urandom(16)).decode("ascii").rstrip("=")
        result = subprocess.run(
            [*self._java_prefix(java), "kafka.tools.StorageTool", "format",
             # "=" form: a random id may start with "-", which argparse takes for an option.
             f"--cluster-id={cluster_id}", f"--config={self.home / 'server.properties'}"],
            capture_output=True, text=True, timeout=120, check=False,
        )
        if result.returncode != 0:
            raise StackError(f"formatting Kafka storage in {self.data_dir} failed:\n"
                             f"{(result.stdout + result.stderr).strip()[-1500:]}")

    def _java_prefix(self, java: Path) -> list[str]:
        libs = kafka_libs_dir(self.settings.cache_dir, self.versions)
        return [
            str(java),
            f"-Xms{self.settings.kafka_heap}", f"-Xmx{self.settings.kafka_heap}",
            "-XX:+UseG1GC",
            f"-Dlog4j2.configurationFile={self.home / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.log_dir}",
            "-cp", f"{libs}/*",
        ]

    def command(self, java: Path) -> tuple[list[str], dict[str, str], str | None]:
        """argv, env and the user to run the broker as (None: the current user)."""
        argv = [*self._java_prefix(java), "kafka.Kafka", str(self.home / "server.properties")]
        return argv, {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}, None
